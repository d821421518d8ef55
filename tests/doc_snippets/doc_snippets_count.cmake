# doc_snippet.count: cmake -DEXPECTED=<n> -DDOCS=<a.md;b.md> -P doc_snippets_count.cmake
# Counts the ```cpp lines of the docs as they are now and fails unless the count equals the
# number of snippets extracted at configure time (doc_snippets.cmake) and is not 0.
set(found 0)
foreach(doc IN LISTS DOCS)
  file(STRINGS ${doc} fences REGEX "^ *```cpp *\r?$")
  list(LENGTH fences n)
  message(STATUS "${doc}: ${n} C++ snippets")
  math(EXPR found "${found} + ${n}")
endforeach()
if(found EQUAL 0)
  message(FATAL_ERROR "no ```cpp block found in ${DOCS}")
endif()
if(NOT found EQUAL EXPECTED)
  message(FATAL_ERROR "the docs hold ${found} ```cpp blocks but ${EXPECTED} were extracted "
                      "and compiled: re-run cmake, or fix the extractor in doc_snippets.cmake")
endif()
message(STATUS "${found} C++ snippets, all extracted")
