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
  endif()
endfunction()
