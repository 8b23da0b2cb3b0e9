import ipaddress
import os
import shutil
import socket
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Every test, and every process a test starts, sees an empty TFDS data_dir, whatever this machine holds
# (TFDS reads $TFDS_DATA_DIR once, when it is imported).
_TFDS_DATA_DIR = tempfile.mkdtemp(prefix="jointvae-tests-tfds-")
os.environ["TFDS_DATA_DIR"] = _TFDS_DATA_DIR

import keras  # noqa: E402  (after the log level, which TensorFlow reads on import)
import pytest  # noqa: E402

_getaddrinfo = socket.getaddrinfo
_lookups: list[str] = []
"""Hosts outside this machine that code under test tried to reach since the last test ended."""


def _this_machine(host) -> bool:
    """Whether ``host`` (as given to ``getaddrinfo``) names this machine: loopback, any, or its own name."""
    host = host.decode() if isinstance(host, bytes) else host
    if host in (None, "", "localhost", socket.gethostname()) or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _getaddrinfo_of_this_machine(host, *args, **kwargs):
    """``socket.getaddrinfo`` for this machine's names; any other host is noted (the test then fails) and
    answered as a name that does not resolve. Not an exception of pytest's: raised in a thread of a download
    library, that could leave a waiting caller hanging instead of failing."""
    if not _this_machine(host):
        _lookups.append(str(host))
        raise socket.gaierror(socket.EAI_NONAME, f"{host}: tests never use the network")
    return _getaddrinfo(host, *args, **kwargs)


def _no_download(builder, *args, **kwargs):
    pytest.fail(f"a test started TFDS's download of '{builder.name}': tests never download a dataset; "
                "use tfds.testing.mock_data")


def pytest_configure(config):
    import tensorflow_datasets as tfds

    socket.getaddrinfo = _getaddrinfo_of_this_machine  # for the whole session: module fixtures come first
    tfds.core.DatasetBuilder.download_and_prepare = _no_download


def pytest_unconfigure(config):
    socket.getaddrinfo = _getaddrinfo
    shutil.rmtree(_TFDS_DATA_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def network_lookups():
    """The hosts outside this machine that the test looked up (a test that expects some clears the list);
    any left when it ends fail it."""
    yield _lookups
    hosts, _lookups[:] = sorted(set(_lookups)), []
    if hosts:
        pytest.fail(f"looked up {', '.join(hosts)}: tests never use the network, and nothing is downloaded")


@pytest.fixture(autouse=True)
def seeded_random_state():
    """Every test starts from the same Python, numpy and TensorFlow random state, so a model's initial
    weights (and a check such as "training lowers the loss") do not depend on which tests ran before."""
    keras.utils.set_random_seed(0)
