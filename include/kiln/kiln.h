// Umbrella header for the Kiln engine API.
#pragma once

#include "kiln/builder.h"
#include "kiln/engine.h"
#include "kiln/layers.h"
#include "kiln/logger.h"
#include "kiln/network.h"
#include "kiln/shapes.h"
#include "kiln/status.h"
#include "kiln/types.h"
