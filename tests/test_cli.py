import subprocess
import sys

import sedna
from sedna.cli import main


def test_version_subcommand(capsys):
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == sedna.__version__


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "sedna", "version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == sedna.__version__
