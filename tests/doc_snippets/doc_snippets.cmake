# SPDX-License-Identifier: BSL-1.0
# Every C++ snippet of README.md and docs/*.md compiles (docs/reliability.md, "Docs that compile").
#
# At configure time each ```cpp fenced block is written to its own translation unit
# <build>/tests/doc_snippets/<doc>_<n>.cpp (<doc>: the file name without .md, <n>: the block's
# number in that file, from 1), laid out as:
#   #include "prelude.hpp"       the library, `ir`, chrono literals, the reader's stand-ins
#   <the block's #include lines>
#   void snippet_<doc>_<n>() {   every other line, in order
#     ...
#   }
# The rule for a top-level block: a block with a line that starts with `int main(` is written
# whole at file scope instead (includes first, as above), so it can define functions and types.
# `#line` directives point every diagnostic at the .md file and line.
#
# The snippets build as one OBJECT library, ipsec_retry_doc_snippets (natively and in the MinGW
# cross build), with the project's warnings except the unused-name and shadowing ones (a snippet
# is a fragment: its `r` is read in the prose, and it may rename a stand-in). Natively, when
# clang++ is found, each is also a ctest entry doc_snippet.clang.<doc>_<n> running
# `clang++ -std=c++20 -fsyntax-only` on it: clang 14 has no CTAD for aggregates, which g++ has
# (except blocks using co_await: clang 14 has no coroutines over libstdc++ 12).
# doc_snippet.count re-counts the blocks at test time, so an extractor that finds none fails.
# Editing a doc re-runs the extraction (CMAKE_CONFIGURE_DEPENDS); a new docs/*.md is globbed.

set(IPSEC_RETRY_DOC_SNIPPETS_DIR ${CMAKE_CURRENT_BINARY_DIR}/doc_snippets)
file(GLOB IPSEC_RETRY_DOCS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
set(IPSEC_RETRY_DOCS ${PROJECT_SOURCE_DIR}/README.md ${IPSEC_RETRY_DOCS})
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${IPSEC_RETRY_DOCS})

# Writes `content` to `path` only when it changed, so a reconfigure rebuilds only edited snippets.
function(ipsec_retry_write_if_changed path content)
  file(WRITE ${path}.new "${content}")
  file(COPY_FILE ${path}.new ${path} ONLY_IF_DIFFERENT)
  file(REMOVE ${path}.new)
endfunction()

# Appends the snippet files of `doc` to the list named by `out_var`.
function(ipsec_retry_extract_snippets doc out_var)
  get_filename_component(stem ${doc} NAME_WE)
  string(MAKE_C_IDENTIFIER ${stem} stem)
  file(READ ${doc} text)
  # Split into lines without CMake's list syntax getting in the way: ';' and '[' ']' are
  # swapped for control characters first and swapped back when written.
  string(ASCII 1 semi)
  string(ASCII 2 open)
  string(ASCII 3 close)
  string(REPLACE ";" "${semi}" text "${text}")
  string(REPLACE "[" "${open}" text "${text}")
  string(REPLACE "]" "${close}" text "${text}")
  string(REPLACE "\n" ";" lines "${text}")

  set(files ${${out_var}})
  set(in_block FALSE)
  set(count 0)
  set(line_no 0)
  foreach(line IN LISTS lines)
    math(EXPR line_no "${line_no} + 1")
    string(REPLACE "${semi}" ";" line "${line}")
    string(REPLACE "${open}" "[" line "${line}")
    string(REPLACE "${close}" "]" line "${line}")
    string(REGEX REPLACE "\r$" "" line "${line}")
    if(NOT in_block)
      if(line MATCHES "^ *```cpp *$")
        set(in_block TRUE)
        set(start ${line_no})
        set(includes "")
        set(body "")
        set(top_level FALSE)
      endif()
      continue()
    endif()
    if(line MATCHES "^ *``` *$")
      set(in_block FALSE)
      math(EXPR count "${count} + 1")
      set(id ${stem}_${count})
      set(source "#include \"${CMAKE_CURRENT_FUNCTION_LIST_DIR}/prelude.hpp\"\n")
      string(APPEND source "// ${doc}, the ```cpp block at line ${start}\n${includes}")
      if(top_level)
        string(APPEND source "${body}")
      else()
        string(APPEND source "void snippet_${id}();\nvoid snippet_${id}() {\n${body}}\n")
      endif()
      set(path ${IPSEC_RETRY_DOC_SNIPPETS_DIR}/${id}.cpp)
      ipsec_retry_write_if_changed(${path} "${source}")
      list(APPEND files ${path})
      continue()
    endif()
    set(located "#line ${line_no} \"${doc}\"\n${line}\n")
    if(line MATCHES "^#include")
      string(APPEND includes "${located}")
    else()
      if(line MATCHES "^int main\\(")
        set(top_level TRUE)
      endif()
      string(APPEND body "${located}")
    endif()
  endforeach()
  if(in_block)
    message(FATAL_ERROR "${doc}:${start}: a ```cpp block is never closed by a ``` line")
  endif()
  set(${out_var} ${files} PARENT_SCOPE)
endfunction()

set(IPSEC_RETRY_DOC_SNIPPETS)
foreach(doc IN LISTS IPSEC_RETRY_DOCS)
  ipsec_retry_extract_snippets(${doc} IPSEC_RETRY_DOC_SNIPPETS)
endforeach()
list(LENGTH IPSEC_RETRY_DOC_SNIPPETS IPSEC_RETRY_DOC_SNIPPET_COUNT)

# Snippet files of blocks since removed from the docs would linger and mislead: delete them.
file(GLOB stale ${IPSEC_RETRY_DOC_SNIPPETS_DIR}/*.cpp)
foreach(file IN LISTS stale)
  if(NOT file IN_LIST IPSEC_RETRY_DOC_SNIPPETS)
    file(REMOVE ${file})
  endif()
endforeach()

set(IPSEC_RETRY_SNIPPET_WARNINGS_OFF -Wno-unused-variable -Wno-unused-but-set-variable
                                     -Wno-unused-parameter -Wno-shadow)
add_library(ipsec_retry_doc_snippets OBJECT ${IPSEC_RETRY_DOC_SNIPPETS})
target_link_libraries(ipsec_retry_doc_snippets PRIVATE ipsec_retry::ipsec_retry)
ipsec_retry_set_warnings(ipsec_retry_doc_snippets)
if(NOT MSVC)
  target_compile_options(ipsec_retry_doc_snippets PRIVATE ${IPSEC_RETRY_SNIPPET_WARNINGS_OFF})
endif()

add_test(NAME doc_snippet.count
         COMMAND ${CMAKE_COMMAND} -DEXPECTED=${IPSEC_RETRY_DOC_SNIPPET_COUNT}
                 "-DDOCS=${IPSEC_RETRY_DOCS}" -P ${CMAKE_CURRENT_LIST_DIR}/doc_snippets_count.cmake)

if(NOT CMAKE_CROSSCOMPILING)
  find_program(IPSEC_RETRY_CLANGXX clang++)
  if(IPSEC_RETRY_CLANGXX)
    foreach(source IN LISTS IPSEC_RETRY_DOC_SNIPPETS)
      get_filename_component(id ${source} NAME_WE)
      # Coroutines: Debian 12's clang 14 cannot use libstdc++ 12's <coroutine> (it does not
      # define __cpp_impl_coroutine), so Asio's co_await is g++-only here; g++ builds them.
      file(READ ${source} snippet_text)
      if(snippet_text MATCHES "co_await")
        continue()
      endif()
      add_test(NAME doc_snippet.clang.${id}
               COMMAND ${IPSEC_RETRY_CLANGXX} -std=c++20 -fsyntax-only -Wall -Wextra -Werror
                       ${IPSEC_RETRY_SNIPPET_WARNINGS_OFF} -I${PROJECT_SOURCE_DIR}/include
                       ${source})
    endforeach()
  endif()
endif()
