# GortFlags: one function applies warnings and sanitizers to every gort target,
# so that the runtime, its tests and its tools are always built the same way.
#
#   gort_apply_flags(target)   -Wall -Wextra, plus -fsanitize=... when
#                              GORT_SANITIZE is set (compile and link).
#
# GORT_SANITIZE is a list: "address;undefined" (ASan+UBSan, one build) or
# "thread" (TSan). ASan and TSan cannot share a build. The flags are PRIVATE on
# purpose: they are not exported with the installed package, so a sanitized
# build is for running the tests, not for installing.
include_guard(GLOBAL)

set(_gort_san_flags "")
if(GORT_SANITIZE)
  set(_gort_san_known address undefined thread leak)
  foreach(_s IN LISTS GORT_SANITIZE)
    if(NOT _s IN_LIST _gort_san_known)
      message(FATAL_ERROR "GORT_SANITIZE: unknown sanitizer '${_s}' (known: ${_gort_san_known})")
    endif()
  endforeach()
  if("thread" IN_LIST GORT_SANITIZE AND ("address" IN_LIST GORT_SANITIZE OR "leak" IN_LIST GORT_SANITIZE))
    message(FATAL_ERROR "GORT_SANITIZE: 'thread' cannot be combined with 'address' or 'leak'")
  endif()
  string(REPLACE ";" "," _gort_san_list "${GORT_SANITIZE}")
  set(_gort_san_flags -fsanitize=${_gort_san_list} -fno-omit-frame-pointer)
  if("undefined" IN_LIST GORT_SANITIZE)
    # A UBSan report fails the test instead of scrolling past.
    list(APPEND _gort_san_flags -fno-sanitize-recover=undefined)
  endif()
  message(STATUS "gort: sanitizers ${_gort_san_list} (${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION})")
endif()

function(gort_apply_flags target)
  # -Wno-interference-size: g++ warns on every use of
  # std::hardware_destructive_interference_size, which the runtime uses on purpose.
  target_compile_options(${target} PRIVATE -Wall -Wextra
    $<$<CXX_COMPILER_ID:GNU>:-Wno-interference-size>)
  if(_gort_san_flags)
    target_compile_options(${target} PRIVATE ${_gort_san_flags})
    target_link_options(${target} PRIVATE ${_gort_san_flags})
  endif()
endfunction()
