"""Compression Lab's engine: no streamlit import anywhere below this package."""

import logging

# torch.utils.cpp_extension (imported by torch.utils.benchmark) warns "No CUDA runtime is found" on every
# CPU-only start; nothing here compiles extensions, so the warning is noise before every CLI output.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
