import click

@click.group()
def main():
    """x"""
