# SPDX-License-Identifier: BSL-1.0
# cmake -P build_and_run.cmake BINARY_DIR SOURCE_DIR [configure args...]
# Configures, builds and runs a consumer project; fails on the first failing step.
set(args)
set(i 3)
while(i LESS CMAKE_ARGC)
  list(APPEND args "${CMAKE_ARGV${i}}")
  math(EXPR i "${i} + 1")
endwhile()
list(POP_FRONT args binary_dir source_dir)
file(REMOVE_RECURSE ${binary_dir})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${source_dir} -B ${binary_dir} ${args}
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the consumer failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${binary_dir} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the consumer failed (${rc})")
endif()
execute_process(COMMAND ${binary_dir}/consumer RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "the consumer exited with ${rc}")
endif()
