// The publishing API is header-only; this unit anchors its vtables.
#include "broadcast/broadcast.hpp"
