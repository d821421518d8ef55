# SPDX-License-Identifier: BSL-1.0
# The stand-in winipsec.dll of windows_agent_test (stand_in.cpp), linked from one object once
# per .def file, next to the test program:
#   winipsec_stand_in.dll              every export
#   winipsec_without_<Export>.dll      every export but <Export>, one DLL per export
# The exports are read from the one list of them, IPSEC_RETRY_WINIPSEC_EXPORTS in
# src/ipsec/winipsec_exports.hpp (its X(member, Export, signature) lines), so a new export gets
# its DLL here without an edit; windows_agent_test loads one per windows_agent::entry_points()
# name and fails if any is missing. Included from tests/CMakeLists.txt on Windows only.
set(_stand_in_exports_header ${PROJECT_SOURCE_DIR}/src/ipsec/winipsec_exports.hpp)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_stand_in_exports_header})
# file(READ), not file(STRINGS): the lines end in a backslash, which would escape the list's ';'.
file(READ ${_stand_in_exports_header} _stand_in_text)
string(REGEX MATCHALL "\n  X\\([a-z_]+, +[A-Za-z]+," _stand_in_lines "${_stand_in_text}")
set(IPSEC_RETRY_WINIPSEC_EXPORT_NAMES)
foreach(line IN LISTS _stand_in_lines)
  string(REGEX REPLACE "^\n  X\\([a-z_]+, +([A-Za-z]+),$" "\\1" name "${line}")
  list(APPEND IPSEC_RETRY_WINIPSEC_EXPORT_NAMES ${name})
endforeach()
list(LENGTH IPSEC_RETRY_WINIPSEC_EXPORT_NAMES _stand_in_count)
if(_stand_in_count EQUAL 0)
  message(FATAL_ERROR "no X(...) export lines found in ${_stand_in_exports_header}")
endif()

add_library(winipsec_stand_in_object OBJECT ${CMAKE_CURRENT_LIST_DIR}/stand_in.cpp)
target_compile_definitions(winipsec_stand_in_object PRIVATE WIN32_LEAN_AND_MEAN UNICODE _UNICODE)
ipsec_retry_set_warnings(winipsec_stand_in_object)

set(IPSEC_RETRY_WINIPSEC_STAND_INS)
# Links winipsec_<suffix>.dll exporting `exports` and the stand-in's own StandIn* functions.
function(ipsec_retry_add_stand_in suffix exports)
  set(def ${CMAKE_CURRENT_BINARY_DIR}/winipsec_stand_in_defs/winipsec_${suffix}.def)
  list(JOIN exports "\n  " lines)
  file(CONFIGURE OUTPUT ${def}
       CONTENT "LIBRARY winipsec_${suffix}\nEXPORTS\n  StandInScript\n  StandInLastCall\n  ${lines}\n")
  add_library(winipsec_${suffix} MODULE $<TARGET_OBJECTS:winipsec_stand_in_object> ${def})
  set_target_properties(winipsec_${suffix} PROPERTIES PREFIX "" OUTPUT_NAME winipsec_${suffix})
  set(IPSEC_RETRY_WINIPSEC_STAND_INS ${IPSEC_RETRY_WINIPSEC_STAND_INS} winipsec_${suffix}
      PARENT_SCOPE)
endfunction()

ipsec_retry_add_stand_in(stand_in "${IPSEC_RETRY_WINIPSEC_EXPORT_NAMES}")
foreach(missing IN LISTS IPSEC_RETRY_WINIPSEC_EXPORT_NAMES)
  set(kept ${IPSEC_RETRY_WINIPSEC_EXPORT_NAMES})
  list(REMOVE_ITEM kept ${missing})
  ipsec_retry_add_stand_in(without_${missing} "${kept}")
endforeach()
