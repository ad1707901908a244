"""The loaded native module (kiln._C) and the build info; imported first by kiln/__init__.py."""
from kiln._loader import load_native

C, build_info = load_native()
