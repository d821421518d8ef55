# SPDX-License-Identifier: BSL-1.0
# Warnings for the project's own targets only (PRIVATE), so consumers never inherit them.
function(ipsec_retry_set_warnings target)
  if(MSVC)
    target_compile_options(${target} PRIVATE /W4 /permissive-)
    if(IPSEC_RETRY_WERROR)
      target_compile_options(${target} PRIVATE /WX)
    endif()
  else()
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                              -Wsign-conversion)
    if(IPSEC_RETRY_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
    # Boost.Asio 1.74's handler invocation uses std::atomic_thread_fence, which GCC 12 says
    # ThreadSanitizer does not model (-Wtsan). Asio's own synchronization is mutexes and
    # atomics TSan sees, and the TSan stage runs the Asio tests clean; the warning is about a
    # header we do not own.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_FLAGS MATCHES "sanitize=thread")
      target_compile_options(${target} PRIVATE -Wno-tsan)
    endif()
  endif()
endfunction()
