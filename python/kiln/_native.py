"""The loaded native module (kiln._C) and the build info; imported first by kiln/__init__.py.

Registers kiln._errors' classes with kiln._C so that native failures (compiling, or a running engine)
raise the KilnError subclass of their status code.
"""

from kiln._errors import CODE_CLASSES, COMPILE_CLASSES
from kiln._loader import load_native

C, build_info = load_native()
C.set_error_classes(compile=COMPILE_CLASSES, run=CODE_CLASSES)
