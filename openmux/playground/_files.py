"""The folder of the files the playground serves: its owner's alone, removed at exit.

Image and speech answers come from the user's prompts. Gradio would keep its copies of
them in /tmp/gradio, which every user of the machine may read, after the playground
stops; `_app` points Gradio here before importing it.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

FOLDER = Path(tempfile.mkdtemp(prefix="openmux-playground-"))
atexit.register(shutil.rmtree, FOLDER, ignore_errors=True)
