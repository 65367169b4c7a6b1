"""The ``qfab`` command line (:mod:`.main`) and the jobs it runs: the demo (:mod:`.demo`) and the
co-design report (:mod:`.codesign`)."""
from qfab.cli.main import main

__all__ = ["main"]
