# HERALD_SANITIZE=address -> ASan + UBSan; HERALD_SANITIZE=thread -> TSan. Applies to all targets.
if(HERALD_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
    # clang 14: -fsanitize=function (not in GCC) makes the assembler fail on some Asio code,
    # and its vptr check probes memory through a pipe, so a process out of file descriptors
    # (a test runs the server at its fd limit) gets a false "invalid vptr".
    $<$<CXX_COMPILER_ID:Clang>:-fno-sanitize=function,vptr>)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(HERALD_ASAN=1)  # clang 14 defines no __SANITIZE_ADDRESS__
elseif(HERALD_SANITIZE STREQUAL "thread")
  # GCC warns that TSan does not instrument atomic_thread_fence (used inside Asio's scheduler);
  # Herald's own code uses no fences, so the warning must not fail -Werror builds.
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer $<$<CXX_COMPILER_ID:GNU>:-Wno-tsan>)
  add_link_options(-fsanitize=thread)
  add_compile_definitions(HERALD_TSAN=1)
elseif(NOT HERALD_SANITIZE STREQUAL "" AND HERALD_SANITIZE)
  message(FATAL_ERROR "HERALD_SANITIZE must be '', 'address' or 'thread', not '${HERALD_SANITIZE}'")
endif()
