# SPDX-License-Identifier: BSL-1.0
# Cross builds: GoogleTest compiled from Debian's sources (googletest package, /usr/src/googletest)
# with the cross compiler, since the host's libgtest.a is a Linux library. Provides the targets
# find_package(GTest) would: GTest::gtest, GTest::gtest_main, GTest::gmock, GTest::gmock_main
# (GoogleTest's own CMake defines them as aliases).
include_guard(GLOBAL)

find_path(IPSEC_RETRY_GOOGLETEST_SOURCE_DIR googletest/src/gtest-all.cc
  PATHS /usr/src/googletest NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH
  DOC "GoogleTest sources the cross build compiles (Debian package googletest)")
if(NOT IPSEC_RETRY_GOOGLETEST_SOURCE_DIR)
  message(FATAL_ERROR "GoogleTest sources not found (/usr/src/googletest): "
                      "run scripts/install-deps or apt-get install googletest")
endif()

set(BUILD_GMOCK ON CACHE BOOL "" FORCE)
set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
set(gtest_force_shared_crt ON CACHE BOOL "" FORCE)   # MSVC: same CRT as the project
set(gtest_build_tests OFF CACHE BOOL "" FORCE)
set(gtest_build_samples OFF CACHE BOOL "" FORCE)
set(gmock_build_tests OFF CACHE BOOL "" FORCE)
# EXCLUDE_FROM_ALL: only what the tests link is built.
add_subdirectory(${IPSEC_RETRY_GOOGLETEST_SOURCE_DIR} ${PROJECT_BINARY_DIR}/googletest
                 EXCLUDE_FROM_ALL)

# Under Wine (CMAKE_CROSSCOMPILING_EMULATOR, set by the toolchain file): the ctest fixture
# ipsec_retry_wine boots the prefix once and keeps one wineserver up across the tests
# (cmake/ipsec_retry_wine_server.cmake says why). WINEPREFIX, WINEDEBUG and WINEDLLOVERRIDES come
# from the environment (the mingw-wine test preset sets them).
set(_ipsec_retry_emulator "")
if(CMAKE_CROSSCOMPILING_EMULATOR)
  list(GET CMAKE_CROSSCOMPILING_EMULATOR 0 _ipsec_retry_emulator)
endif()
get_filename_component(_ipsec_retry_emulator_name "${_ipsec_retry_emulator}" NAME)
if(_ipsec_retry_emulator_name MATCHES "^wine")
  get_filename_component(_ipsec_retry_emulator_dir "${_ipsec_retry_emulator}" DIRECTORY)
  find_program(IPSEC_RETRY_WINESERVER NAMES wineserver
    HINTS ${_ipsec_retry_emulator_dir} NO_CMAKE_FIND_ROOT_PATH)
endif()

# ipsec_retry_require_wine_fixture(): every test of the calling directory (however it was
# added) requires the fixture. Call it deferred, so it sees the directory's last test:
#   cmake_language(DEFER CALL ipsec_retry_require_wine_fixture)
function(ipsec_retry_require_wine_fixture)
  if(NOT IPSEC_RETRY_WINESERVER)
    return()
  endif()
  get_directory_property(tests TESTS)
  list(REMOVE_ITEM tests wine.start)
  if(tests)
    set_tests_properties(${tests} PROPERTIES FIXTURES_REQUIRED ipsec_retry_wine)
  endif()
endfunction()

if(IPSEC_RETRY_WINESERVER)
  add_test(NAME wine.start
    COMMAND ${CMAKE_COMMAND} -DWINE=${_ipsec_retry_emulator} -DWINESERVER=${IPSEC_RETRY_WINESERVER}
            -DLOG=${CMAKE_CURRENT_BINARY_DIR}/wine-fixture.log
            -P ${CMAKE_CURRENT_LIST_DIR}/ipsec_retry_wine_server.cmake)
  set_tests_properties(wine.start PROPERTIES FIXTURES_SETUP ipsec_retry_wine)
  cmake_language(DEFER CALL ipsec_retry_require_wine_fixture)
endif()
