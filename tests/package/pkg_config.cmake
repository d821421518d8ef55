# SPDX-License-Identifier: BSL-1.0
# Compiles and runs the consumer with the flags `pkg-config --cflags --libs ipsec_retry` gives.
set(ENV{PKG_CONFIG_PATH} "${STAGE}/${LIBDIR}/pkgconfig")
execute_process(COMMAND ${PKG_CONFIG} --cflags --libs ipsec_retry
                OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "pkg-config does not know ipsec_retry (${rc})")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
separate_arguments(cxx_flags UNIX_COMMAND "${CXX_FLAGS}")
execute_process(COMMAND ${CXX} ${cxx_flags} ${SOURCE} ${flags} -o ${OUT} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "compiling with pkg-config's flags failed (${rc})")
endif()
execute_process(COMMAND ${OUT} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "the consumer exited with ${rc}")
endif()
