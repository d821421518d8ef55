# SPDX-License-Identifier: BSL-1.0
# The administrator's story under Wine, with Wine's own reg.exe:
#   cmake -DWINE=wine64 -DCLI=.../ipsec-retry.exe -P wine_registry_sites.cmake
# `reg add` sets qm.delete for the machine (HKLM, 64-bit view) and differently for the user
# (HKCU); `ipsec-retry sites --json` must show the machine's line with both values as sources,
# and `sites` in text shows the HKLM path. Then a REG_DWORD value must make `sites` exit 2
# naming the value. The ipsec_retry keys are deleted before and after, whatever happened.
set(key "SOFTWARE\\Policies\\ipsec_retry")
set(failures "")

function(run_reg)
  execute_process(COMMAND ${WINE} reg ${ARGN} /reg:64 /f
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    set(failures "${failures}\nwine reg ${ARGN}: exit ${rc}: ${out}${err}" PARENT_SCOPE)
  endif()
endfunction()

function(delete_keys)
  foreach(hive HKLM HKCU)
    execute_process(COMMAND ${WINE} reg delete "${hive}\\${key}" /reg:64 /f
                    OUTPUT_QUIET ERROR_QUIET)  # absent is fine
  endforeach()
endfunction()

function(run_sites out_var rc_var)
  execute_process(COMMAND ${WINE} ${CLI} sites ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(${out_var} "${out}" PARENT_SCOPE)
  set(${rc_var} "${rc}" PARENT_SCOPE)
  set(sites_stderr "${err}" PARENT_SCOPE)
endfunction()

delete_keys()
run_reg(add "HKCU\\${key}\\Sites" /v qm.delete /t REG_SZ /d "timeout=40s, attempts=7")
run_reg(add "HKLM\\${key}\\Sites" /v qm.delete /t REG_SZ /d "timeout=90s")
run_reg(add "HKLM\\${key}\\Budgets" /v agent /t REG_SZ /d "max_tokens=20")
run_reg(add "HKLM\\${key}\\Sites" /v qm.add /t REG_SZ /d "budget=agent")

if(failures STREQUAL "")
  run_sites(json rc --json)
  if(NOT rc EQUAL 0)
    string(APPEND failures "\nsites --json: exit ${rc}: ${sites_stderr}")
  else()
    string(JSON count ERROR_VARIABLE json_error LENGTH "${json}" sites)
    if(json_error)
      string(APPEND failures "\nsites --json printed no JSON (${json_error}): ${json}")
      set(count 0)
    endif()
    set(seen "")
    math(EXPR last "${count} - 1")
    foreach(i RANGE 0 ${last})
      if(count EQUAL 0)
        break()
      endif()
      string(JSON name GET "${json}" sites ${i} name)
      if(name STREQUAL "qm.delete")
        list(APPEND seen qm.delete)
        string(JSON policy GET "${json}" sites ${i} policy)
        string(JSON source GET "${json}" sites ${i} source)
        string(JSON first GET "${json}" sites ${i} sources 0)
        string(JSON second GET "${json}" sites ${i} sources 1)
        if(NOT policy MATCHES "^attempts=7, timeout=90s, ")
          string(APPEND failures "\nqm.delete: policy '${policy}', expected HKLM's timeout=90s "
                                 "over HKCU's attempts=7")
        endif()
        if(NOT source STREQUAL "HKLM\\${key}\\Sites\\qm.delete")
          string(APPEND failures "\nqm.delete: source '${source}', expected the HKLM value")
        endif()
        if(NOT first STREQUAL "HKCU\\${key}\\Sites\\qm.delete" OR
           NOT second STREQUAL "HKLM\\${key}\\Sites\\qm.delete")
          string(APPEND failures "\nqm.delete: sources '${first}', '${second}', expected HKCU's "
                                 "then HKLM's")
        endif()
      elseif(name STREQUAL "qm.add")
        list(APPEND seen qm.add)
        string(JSON budget GET "${json}" sites ${i} budget)
        if(NOT budget STREQUAL "agent")
          string(APPEND failures "\nqm.add: budget '${budget}', expected agent (HKLM)")
        endif()
      endif()
    endforeach()
    if(NOT seen STREQUAL "qm.add;qm.delete")
      string(APPEND failures "\nsites --json lists '${seen}' of qm.add and qm.delete: ${json}")
    endif()
    string(JSON budget_settings ERROR_VARIABLE json_error GET "${json}" budgets 0 settings)
    if(NOT budget_settings STREQUAL "max_tokens=20, token_ratio=0.1")
      string(APPEND failures "\nbudget agent: '${budget_settings}', expected HKLM's max_tokens=20")
    endif()
  endif()

  run_sites(text rc)
  if(NOT rc EQUAL 0 OR NOT text MATCHES "qm\\.delete [^\n]*HKLM\\\\SOFTWARE\\\\Policies\\\\ipsec_retry\\\\Sites\\\\qm\\.delete")
    string(APPEND failures "\nsites: exit ${rc}, no HKLM source on qm.delete's line: ${text}")
  endif()

  # The wrong type: exit 2, the value named.
  run_reg(add "HKLM\\${key}\\Sites" /v qm.set /t REG_DWORD /d 90)
  run_sites(text rc)
  if(NOT rc EQUAL 2 OR NOT sites_stderr MATCHES "HKLM\\\\SOFTWARE\\\\Policies\\\\ipsec_retry\\\\Sites\\\\qm\\.set.*REG_DWORD")
    string(APPEND failures "\nsites with a REG_DWORD qm.set: exit ${rc} (expected 2), stderr: "
                           "${sites_stderr}")
  endif()
endif()

delete_keys()
if(NOT failures STREQUAL "")
  message(FATAL_ERROR "wine registry story failed:${failures}")
endif()
message(STATUS "HKLM's qm.delete won over HKCU's, with both as sources; REG_DWORD refused")
