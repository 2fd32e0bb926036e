# GortInstall: `cmake --install` lays out headers, libraries and a CMake
# package, so that outside projects can `find_package(gort)` and link
# `gort::runtime`, `gort::net` (which brings gort::runtime with it) and
# `gort::tls` (gort::net and OpenSSL).
include_guard(GLOBAL)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS gort_runtime gort_net gort_tls EXPORT gortTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY runtime/include/gort net/include/gort net/tls/include/gort DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT gortTargets NAMESPACE gort:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gort)
configure_package_config_file(cmake/gortConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/gortConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gort)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/gortConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/gortConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/gortConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gort)
