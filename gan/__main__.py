import gc
import sys

from gan.cli import main

code = main()
# what is left at exit needs no collecting: without this, the interpreter's last collections walk torch's
# objects for 0.3 s of every command (0.12 s with it; `python benchmarks/bench_process.py`)
gc.freeze()
sys.exit(code)
