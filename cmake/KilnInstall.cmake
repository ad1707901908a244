# The CMake package C++ users get from `cmake --install <build> --prefix P --component kiln_dev`:
#   find_package(kiln)                       -> kiln::kiln        the engine alone (include/kiln, libkiln)
#   find_package(kiln COMPONENTS torch)      -> kiln::kiln_torch  + the torch bridge (libkiln_torch,
#                                               libkiln_runtime with the engine inside, kiln::libtorch)
# The installed kilnConfig.cmake finds libtorch the way the build did (cmake/KilnTorch.cmake: KILN_TORCH_ROOT
# or KILN_PYTHON's torch). tests/install/ builds a consumer against an install prefix.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
set(KILN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/kiln)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/kiln DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT kiln_dev)
install(TARGETS kiln EXPORT kilnTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT kiln_dev
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT kiln_dev)
install(TARGETS kiln_profile RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT kiln_dev)
install(EXPORT kilnTargets NAMESPACE kiln:: DESTINATION ${KILN_CMAKE_DIR} COMPONENT kiln_dev)

if(KILN_WITH_TORCH)
  # The bridge's public headers keep their layout under include/kiln_torch (#include "api/compile_spec.h").
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/kiln_torch/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kiln_torch
          COMPONENT kiln_dev FILES_MATCHING PATTERN "*.h" PATTERN "python" EXCLUDE)
  install(TARGETS kiln_runtime kiln_torch EXPORT kilnTorchTargets
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT kiln_dev)
  install(TARGETS kilnc RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT kiln_dev)
  install(EXPORT kilnTorchTargets NAMESPACE kiln:: DESTINATION ${KILN_CMAKE_DIR} COMPONENT kiln_dev)
  install(FILES ${PROJECT_SOURCE_DIR}/cmake/KilnTorch.cmake DESTINATION ${KILN_CMAKE_DIR} COMPONENT kiln_dev)
  if(NOT KILN_BUILD_PYTHON)  # (with it, kiln_torch/python sets the wheel's RPATH, which covers this)
    set_target_properties(kiln_runtime kiln_torch kilnc PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR};${KILN_TORCH_ROOT}/lib")
  endif()
endif()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/kilnConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/kilnConfig.cmake INSTALL_DESTINATION ${KILN_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/kilnConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/kilnConfig.cmake ${PROJECT_BINARY_DIR}/kilnConfigVersion.cmake
        DESTINATION ${KILN_CMAKE_DIR} COMPONENT kiln_dev)
