# Run at the end of project() when pip builds the wheel (pyproject.toml sets CMAKE_PROJECT_INCLUDE): the
# torch bridge and kiln._C are built against the torch of the Python that runs pip.
if(NOT KILN_PYTHON AND Python_EXECUTABLE)
  set(KILN_PYTHON "${Python_EXECUTABLE}" CACHE FILEPATH "Python interpreter whose torch the bridge builds against")
endif()
