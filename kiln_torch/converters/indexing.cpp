// STUB: to be implemented.
#include "converters/families.h"

namespace kiln::bridge {

void register_indexing_converters(ConverterRegistry&) {}

}  // namespace kiln::bridge
