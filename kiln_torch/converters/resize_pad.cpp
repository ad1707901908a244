// STUB: to be implemented.
#include "converters/families.h"

namespace kiln::bridge {

void register_resize_pad_converters(ConverterRegistry&) {}

}  // namespace kiln::bridge
