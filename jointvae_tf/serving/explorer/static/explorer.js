// jvae-tf explore: the page's controls. Talks only to the server that served it (see jointvae_tf/explorer.py).
//
// The state is one code (z: a value per continuous dim, c: a category per discrete variable), the dim of
// the traversal strip and what the strip sweeps around. A change asks /api/decode for the picture of the
// code at once, and /api/views for the strip and the rows of categories once the code has rested for
// VIEWS_DEBOUNCE_MS. Each channel has at most one request in flight; changes made meanwhile are merged
// into its next request, so the picture follows a moving slider as fast as the model answers.
"use strict";

(() => {
  const IMAGE_DEBOUNCE_MS = 5;
  const VIEWS_DEBOUNCE_MS = 120;
  const $ = (id) => document.getElementById(id);
  const state = { z: [], c: [], dim: null, strip: "code" };
  let model = null;
  let sliders = {};  // dim -> {row, input, output}
  let pickers = [];  // variable -> select

  async function api(path, body, contentType) {
    const options = body === undefined ? {} : {
      method: "POST",
      body: contentType ? body : JSON.stringify(body),
      headers: { "Content-Type": contentType || "application/json" },
    };
    const response = await fetch(path, options);
    let answer;
    try {
      answer = await response.json();
    } catch (error) {
      throw new Error(`${path}: HTTP ${response.status}`);
    }
    if (!response.ok) throw new Error(answer.error || `${path}: HTTP ${response.status}`);
    return answer;
  }

  function status(text, isError = false) {
    $("status").textContent = text;
    $("status").classList.toggle("error", isError);
  }

  const round = (value) => Number(Number(value).toFixed(model.decimals)) || 0;

  function element(tag, attributes = {}, children = []) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) node.appendChild(child);
    return node;
  }

  function buildControls() {
    $("title").textContent = model.title;
    $("held-out").textContent = model.held_out;
    const range = model.slider_range;
    for (const info of model.dims) {
      const input = element("input", {
        type: "range", min: -range, max: range, step: "0.01", value: "0", id: `z${info.dim}`,
        "data-dim": info.dim, "aria-label": info.label,
      });
      const output = element("output", { for: `z${info.dim}` });
      const row = element("div", { class: "slider" + (info.active ? "" : " inactive"), "data-dim": info.dim,
                                   title: info.kl === null ? "" : `held-out KL ${info.kl.toFixed(3)} nats` },
                          [element("label", { for: `z${info.dim}`, text: info.label }), input, output]);
      input.addEventListener("input", () => {
        state.z[info.dim] = round(input.value);
        showValue(info.dim);
        setStripDim(info.dim);
        schedule();
      });
      row.addEventListener("mouseenter", () => setStripDim(info.dim));
      input.addEventListener("focus", () => setStripDim(info.dim));
      sliders[info.dim] = { row, input, output };
      $("sliders").appendChild(row);
    }
    if (!model.dims.length) $("sliders").appendChild(element("p", { text: "no continuous dims" }));
    for (const variable of model.variables) {
      const select = element("select", { id: `c${variable.index}`, "data-variable": variable.index },
                             variable.categories.map((label, j) => element("option", { value: j, text: label })));
      select.addEventListener("change", () => {
        state.c[variable.index] = Number(select.value);
        schedule();
      });
      pickers.push(select);
      $("pickers").appendChild(element("div", { class: "picker" },
                                       [element("label", { for: select.id, text: variable.label }), select]));
    }
    $("pickers-title").hidden = !model.variables.length;
    for (const variable of model.variables) {
      $("categories").appendChild(element("div", { class: "variable" }, [
        element("div", { text: variable.label }), element("div", { class: "row", id: `categories-c${variable.index}` })]));
    }
    const modes = { code: "around this code", prior: "around the prior mean (traverse signature)" };
    for (const mode of model.strip_modes) $("strip-mode").appendChild(element("option", { value: mode, text: modes[mode] }));
    $("strip-mode").addEventListener("change", () => { state.strip = $("strip-mode").value; schedule(views); });
    $("strip-panel").hidden = !model.dims.length;
    $("categories-panel").hidden = !model.variables.length;
  }

  function showValue(dim) {
    const { input, output } = sliders[dim];
    const value = state.z[dim];
    output.textContent = value.toFixed(2);
    output.classList.toggle("beyond", Math.abs(value) > model.slider_range);
    output.title = String(value);
    if (Number(input.value) !== value) input.value = value;
  }

  function syncControls() {
    for (const info of model.dims) showValue(info.dim);
    pickers.forEach((select, i) => { select.value = state.c[i]; });
    for (const [dim, { row }] of Object.entries(sliders)) row.classList.toggle("current", Number(dim) === state.dim);
    $("strip-mode").value = state.strip;
  }

  function setStripDim(dim) {
    if (state.dim === dim) return;
    state.dim = dim;
    syncControls();
    schedule(views);
  }

  // A kind of request: built from the state when sent, shown when answered, debounced and coalesced.
  function channel(path, debounce, build, show) {
    return { path, debounce, build, show, inFlight: false, pending: false, timer: null };
  }

  const image = channel("/api/decode", IMAGE_DEBOUNCE_MS, () => ({ z: state.z.slice(), c: state.c.slice() }),
                        showImage);
  const views = channel("/api/views", VIEWS_DEBOUNCE_MS, () => {
    writeUrl();  // once the code rests: browsers throttle history.replaceState
    return { z: state.z.slice(), c: state.c.slice(), dim: state.dim, strip: state.strip };
  }, showViews);

  // Asks again for the pictures of the state: both kinds unless one is named.
  function schedule(only) {
    for (const kind of only ? [only] : [image, views]) {
      clearTimeout(kind.timer);
      kind.timer = setTimeout(() => send(kind), kind.debounce);
    }
  }

  async function send(kind) {
    if (kind.inFlight) {
      kind.pending = true;
      return;
    }
    kind.inFlight = true;
    kind.pending = false;
    const request = kind.build();
    try {
      kind.show(await api(kind.path, request), request);
      if ($("status").classList.contains("error")) status("");
    } catch (error) {
      status(error.message, true);
    } finally {
      kind.inFlight = false;
      if (kind.pending) send(kind);
    }
  }

  // Fills a row of clickable pictures, reusing its cells (a moving slider refills it many times a second).
  function fillRow(row, sources, labels, current, onPick) {
    while (row.children.length > sources.length) row.lastChild.remove();
    sources.forEach((src, j) => {
      let node = row.children[j];
      if (!node) {
        node = element("div", { class: "cell" }, [element("img"), element("span")]);
        row.appendChild(node);
      }
      node.firstChild.src = src;
      node.firstChild.alt = node.title = node.lastChild.textContent = labels[j];
      node.classList.toggle("current", j === current);
      node.onclick = () => onPick(j);
    });
  }

  function showImage(answer, request) {
    $("image").src = answer.image;
    $("image").dataset.code = JSON.stringify(request);
  }

  function showViews(view, request) {
    if (view.strip) {
      const dim = view.strip.dim;
      const values = view.strip.values;
      $("strip-title").textContent = `${model.dims.find((d) => d.dim === dim).label}: 5 % to 95 % of its prior`;
      const distance = values.map((v) => Math.abs(v - request.z[dim]));
      fillRow($("strip"), view.strip.images, values.map((v) => v.toFixed(2)), distance.indexOf(Math.min(...distance)),
              (j) => {
                state.z[dim] = round(values[j]);
                syncControls();
                schedule();
              });
    }
    view.categories.forEach((images, i) => {
      fillRow($(`categories-c${i}`), images, model.variables[i].categories, request.c[i], (j) => {
        state.c[i] = j;
        syncControls();
        schedule();
      });
    });
  }

  function writeUrl() {
    const parts = [`z=${state.z.join(",")}`, `c=${state.c.join(",")}`, `strip=${state.strip}`];
    if (state.dim !== null) parts.push(`dim=${state.dim}`);
    history.replaceState(null, "", "#" + parts.join("&"));
    $("share").href = location.href;
  }

  // Reads a code from the URL's fragment (#z=...&c=...&dim=...&strip=...); false when there is none.
  // A category may be given by the class it holds (c=star): the model's purest category holding it.
  function readUrl() {
    const fields = new URLSearchParams(location.hash.slice(1));
    if (!fields.has("z") && !fields.has("c")) return false;
    const list = (name) => (fields.get(name) || "").split(",").filter((s) => s !== "");
    const z = list("z").map(Number);
    const c = list("c").map((s, i) => {
      const row = Object.hasOwn(model.classes, s) ? model.classes[s] : null;
      return row ? row[i] : Number(s);
    });
    const zOk = z.length === model.cont && z.every(Number.isFinite);
    const cOk = c.length === model.disc.length && c.every((j, i) => Number.isInteger(j) && j >= 0 && j < model.disc[i]);
    if (!zOk || !cOk) {
      const names = Object.keys(model.classes);
      status(`link: expected ${model.cont} values of z and categories below [${model.disc}]` +
             (names.length ? ` or classes (${names.join(", ")})` : "") + "; showing zeros", true);
      return false;
    }
    state.z = z.map(round);
    state.c = c;
    const dim = Number(fields.get("dim"));
    if (fields.has("dim") && Number.isInteger(dim) && dim >= 0 && dim < model.cont) state.dim = dim;
    if (model.strip_modes.includes(fields.get("strip"))) state.strip = fields.get("strip");
    return true;
  }

  function setCode(code) {
    state.z = code.z.map(round);
    state.c = code.c.slice();
    syncControls();
    schedule();
  }

  async function randomCode() {
    const seed = Math.trunc(Number($("seed").value)) || 0;
    try {
      setCode(await api("/api/sample", { seed }));
      $("seed").value = seed + 1;
      status(`a prior sample, seed ${seed}`);
    } catch (error) {
      status(error.message, true);
    }
  }

  async function upload(file) {
    if (!file) return;
    status(`encoding ${file.name} ...`);
    try {
      const code = await api("/api/encode", file, file.type || "application/octet-stream");
      setCode(code);
      $("input-image").src = code.input;
      const read = code.probabilities.map((p, i) => `${model.variables[i].label.split(" ")[0]} = ` +
                                          `${model.variables[i].categories[code.c[i]]} (p ${p[code.c[i]].toFixed(2)})`);
      $("uploaded-text").textContent = `${file.name} as the model reads it; ${read.join(", ") || "encoded"}`;
      $("uploaded").hidden = false;
      status(`encoded ${file.name}: the sliders hold its code`);
    } catch (error) {
      status(error.message, true);
    }
  }

  function bindActions() {
    $("random").addEventListener("click", randomCode);
    $("zero").addEventListener("click", () => setCode({ z: state.z.map(() => 0), c: state.c }));
    $("upload").addEventListener("change", () => {
      upload($("upload").files[0]);
      $("upload").value = "";
    });
    const frame = $("frame");
    frame.addEventListener("dragover", (event) => { event.preventDefault(); frame.classList.add("dragging"); });
    frame.addEventListener("dragleave", () => frame.classList.remove("dragging"));
    frame.addEventListener("drop", (event) => {
      event.preventDefault();
      frame.classList.remove("dragging");
      upload(event.dataTransfer.files[0]);
    });
    $("share").addEventListener("click", async (event) => {
      event.preventDefault();
      try {
        await navigator.clipboard.writeText(location.href);
        status("link copied");
      } catch (error) {
        status(`copy this link: ${location.href}`);
      }
    });
    window.addEventListener("hashchange", () => {
      if (readUrl()) {
        syncControls();
        schedule();
      }
    });
  }

  async function start() {
    try {
      model = await api("/api/model");
    } catch (error) {
      status(error.message, true);
      return;
    }
    state.z = new Array(model.cont).fill(0);
    state.c = new Array(model.disc.length).fill(0);
    state.dim = model.dims.length ? model.dims[0].dim : null;
    buildControls();
    bindActions();
    readUrl();
    syncControls();
    schedule();
  }

  start();
})();
