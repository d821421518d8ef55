# SPDX-License-Identifier: BSL-1.0
# Install rules: headers, library, CLI, a CMake package and a pkg-config file.
include(CMakePackageConfigHelpers)

set(IPSEC_RETRY_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/ipsec_retry)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ipsec_retry
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.inc")
install(TARGETS ipsec_retry ipsec_retry_asio
        EXPORT ipsec_retry_targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET ipsec_retry_cli)
  install(TARGETS ipsec_retry_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
# The Group Policy template, for an administrator to copy into the central store
# (docs/configuration.md, "Group Policy").
install(DIRECTORY ${PROJECT_SOURCE_DIR}/admx/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/ipsec_retry/admx)
install(EXPORT ipsec_retry_targets
        NAMESPACE ipsec_retry::
        FILE ipsec_retryTargets.cmake
        DESTINATION ${IPSEC_RETRY_CMAKE_DIR})

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/ipsec_retryConfig.cmake.in
  ${PROJECT_BINARY_DIR}/ipsec_retryConfig.cmake
  INSTALL_DESTINATION ${IPSEC_RETRY_CMAKE_DIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/ipsec_retryConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ipsec_retryConfig.cmake
              ${PROJECT_BINARY_DIR}/ipsec_retryConfigVersion.cmake
        DESTINATION ${IPSEC_RETRY_CMAKE_DIR})

# pkg-config: Boost.Outcome is header-only and Debian ships no boost .pc, so only our own flags.
# The prefix is relative to the .pc file, so a staged or relocated install still works.
file(RELATIVE_PATH IPSEC_RETRY_PC_PREFIX_REL "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
set(IPSEC_RETRY_PC_PREFIX "\${pcfiledir}/${IPSEC_RETRY_PC_PREFIX_REL}")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(IPSEC_RETRY_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  set(IPSEC_RETRY_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(IPSEC_RETRY_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(IPSEC_RETRY_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/ipsec_retry.pc.in
               ${PROJECT_BINARY_DIR}/ipsec_retry.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/ipsec_retry.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
