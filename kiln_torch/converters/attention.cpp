// STUB: to be implemented.
#include "converters/families.h"

namespace kiln::bridge {

void register_attention_converters(ConverterRegistry&) {}

}  // namespace kiln::bridge
