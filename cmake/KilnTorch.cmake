# kiln_import_torch(): the imported target kiln::libtorch (GLOBAL) for the torch bridge, made from a PyTorch
# installation's include/ and lib/ folders, as torch.utils.cpp_extension builds extensions. Not
# find_package(Torch): a CUDA build of torch makes that demand the CUDA toolkit (Caffe2Config.cmake stops
# with "uses CUDA but I cannot find the CUDA libraries") even for a CPU-only Kiln, and its targets are
# directory-scoped. Used by the build and by the installed kilnConfig.cmake (kiln::kiln_torch consumers).
#
# Where torch is: KILN_TORCH_ROOT (the torch package folder, site-packages/torch, or an unpacked libtorch),
# else what `import torch` finds in KILN_PYTHON (else python3 on PATH).
# Sets KILN_TORCH_ROOT, KILN_TORCH_RELEASE (x.y.z), KILN_TORCH_CUDA (ON when libtorch_cuda.so is there) and
# KILN_TORCH_PYTHON_LIBRARY (libtorch_python.so, for Python extensions; empty for libtorch).
# With KILN_TORCH_WITH_CUDA ON (a CUDA build of Kiln), kiln::libtorch also links torch_cuda and c10_cuda.
function(kiln_import_torch)
  if(TARGET kiln::libtorch)
    return()
  endif()
  set(abi "")
  if(NOT KILN_TORCH_ROOT)
    set(py "${KILN_PYTHON}")
    if(NOT py)
      find_program(py NAMES python3 python)
    endif()
    execute_process(
      COMMAND "${py}" -c "import os, torch; print(os.path.dirname(torch.__file__)); print(int(torch._C._GLIBCXX_USE_CXX11_ABI))"
      OUTPUT_VARIABLE out RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT rc EQUAL 0)
      set(KILN_TORCH_FOUND OFF PARENT_SCOPE)
      set(KILN_TORCH_ERROR "${py} cannot import torch: ${err}" PARENT_SCOPE)
      return()
    endif()
    string(REPLACE "\n" ";" out "${out}")
    list(GET out 0 root)
    list(GET out 1 abi)
    set(KILN_TORCH_ROOT "${root}" CACHE PATH "PyTorch installation (site-packages/torch or libtorch)" FORCE)
  endif()
  set(root "${KILN_TORCH_ROOT}")
  find_library(KILN_LIBTORCH torch PATHS "${root}/lib" NO_DEFAULT_PATH NO_CACHE)
  if(NOT KILN_LIBTORCH OR NOT EXISTS "${root}/include/torch/script.h")
    set(KILN_TORCH_FOUND OFF PARENT_SCOPE)
    set(KILN_TORCH_ERROR "no libtorch headers and libraries under ${root}" PARENT_SCOPE)
    return()
  endif()
  # The version from the headers: the same for the Python package and libtorch.
  set(ver "")
  foreach(part MAJOR MINOR PATCH)
    file(STRINGS "${root}/include/torch/headeronly/version.h" v REGEX "define TORCH_VERSION_${part} ")
    string(REGEX REPLACE ".*TORCH_VERSION_${part} +([0-9]+).*" "\\1" v "${v}")
    list(APPEND ver "${v}")
  endforeach()
  list(JOIN ver "." ver)
  if(abi STREQUAL "")
    set(abi 1)  # every torch since 2.7 uses the C++11 ABI
  endif()

  add_library(kiln::libtorch INTERFACE IMPORTED GLOBAL)
  target_include_directories(kiln::libtorch SYSTEM INTERFACE "${root}/include"
                             "${root}/include/torch/csrc/api/include")
  target_compile_definitions(kiln::libtorch INTERFACE _GLIBCXX_USE_CXX11_ABI=${abi})
  set(libs torch torch_cpu c10)
  set(cuda OFF)
  if(EXISTS "${root}/lib/libtorch_cuda.so")
    set(cuda ON)
    if(KILN_TORCH_WITH_CUDA)
      list(APPEND libs torch_cuda c10_cuda)
    endif()
  endif()
  # --no-as-needed: the libraries register their ops and kernels when loaded, referenced or not.
  list(TRANSFORM libs REPLACE "(.+)" "${root}/lib/lib\\1.so")
  target_link_libraries(kiln::libtorch INTERFACE "-Wl,--no-as-needed" ${libs} "-Wl,--as-needed")
  if(KILN_TORCH_WITH_CUDA AND cuda)
    target_link_libraries(kiln::libtorch INTERFACE CUDA::cudart)  # c10/cuda headers include cuda_runtime_api.h
  endif()
  set(pylib "")
  if(EXISTS "${root}/lib/libtorch_python.so")
    set(pylib "${root}/lib/libtorch_python.so")
  endif()
  set(KILN_TORCH_FOUND ON PARENT_SCOPE)
  set(KILN_TORCH_RELEASE "${ver}" PARENT_SCOPE)
  set(KILN_TORCH_CUDA ${cuda} PARENT_SCOPE)
  set(KILN_TORCH_PYTHON_LIBRARY "${pylib}" PARENT_SCOPE)
endfunction()
