# SPDX-License-Identifier: BSL-1.0
# ctest fixture for tests run under Wine (added by cmake/ipsec_retry_cross_tests.cmake):
#   cmake -DWINE=<wine64> -DWINESERVER=<wineserver> [-DLOG=<file>] [-DPERSIST=<seconds>] -P <this file>
# Starts a wineserver that stays up PERSIST seconds after its last client, then boots the prefix
# ($WINEPREFIX, created on first use) and its system processes (services.exe, winedevice.exe...)
# with their stdio on a log file. Without this, the test that happens to start Wine hands
# ctest's output pipe down to those system processes, and ctest waits for them to exit (about
# 3 s after the test, for every test when they run one at a time); and with no server running
# between tests each test boots Wine again. Nothing stops the server: it exits by itself PERSIST
# seconds after the last test, so no test (with or without the fixture) is ever cut short.
cmake_minimum_required(VERSION 3.25)

if(NOT WINE OR NOT WINESERVER)
  message(FATAL_ERROR "usage: cmake -DWINE=<wine64> -DWINESERVER=<wineserver> -P ${CMAKE_SCRIPT_MODE_FILE}")
endif()
if(NOT DEFINED PERSIST)
  set(PERSIST 10)
endif()
if(DEFINED ENV{WINEPREFIX})
  set(prefix $ENV{WINEPREFIX})
else()
  set(prefix $ENV{HOME}/.wine)
endif()
if(DEFINED LOG)
  set(log ${LOG})
else()
  set(log ${CMAKE_CURRENT_BINARY_DIR}/wine-fixture.log)
endif()

# -pN (one word; "-p N" would mean forever): stay up N seconds after the last client. If a
# server already runs for this prefix, this one exits at once, which is fine.
execute_process(COMMAND ${WINESERVER} -p${PERSIST}
  INPUT_FILE /dev/null OUTPUT_FILE /dev/null ERROR_FILE /dev/null)
execute_process(COMMAND ${WINE} wineboot --init
  INPUT_FILE /dev/null OUTPUT_FILE ${log} ERROR_FILE ${log} RESULT_VARIABLE status
  TIMEOUT 300)
if(NOT status EQUAL 0)
  file(READ ${log} text)
  message(FATAL_ERROR "wineboot --init failed (${status}) for WINEPREFIX=${prefix}:\n${text}")
endif()
message(STATUS "Wine ready: WINEPREFIX=${prefix}")
