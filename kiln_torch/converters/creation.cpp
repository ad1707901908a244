// STUB: to be implemented.
#include "converters/families.h"

namespace kiln::bridge {

void register_creation_converters(ConverterRegistry&) {}

}  // namespace kiln::bridge
