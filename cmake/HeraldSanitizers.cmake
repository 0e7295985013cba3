# HERALD_SANITIZE=address -> ASan + UBSan; HERALD_SANITIZE=thread -> TSan. Applies to all targets.
if(HERALD_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(HERALD_SANITIZE STREQUAL "thread")
  # GCC warns that TSan does not instrument atomic_thread_fence (used inside Asio's scheduler);
  # Herald's own code uses no fences, so the warning must not fail -Werror builds.
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer $<$<CXX_COMPILER_ID:GNU>:-Wno-tsan>)
  add_link_options(-fsanitize=thread)
elseif(NOT HERALD_SANITIZE STREQUAL "" AND HERALD_SANITIZE)
  message(FATAL_ERROR "HERALD_SANITIZE must be '', 'address' or 'thread', not '${HERALD_SANITIZE}'")
endif()
