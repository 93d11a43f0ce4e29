// How many CPUs this process may run on (its affinity mask; hardware_concurrency when that cannot be read;
// at least 1). Thread counts are clamped to it: more threads only slow down, and libgomp crashes creating
// tens of thousands.
#pragma once

namespace octet {

int usable_cpus();

}  // namespace octet
