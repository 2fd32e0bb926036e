// gort/gort.hpp: everything public in gort, one include.
#pragma once

#include <gort/fiber.hpp>
#include <gort/go.hpp>
#include <gort/run.hpp>
#include <gort/stats.hpp>
#include <gort/wait_group.hpp>
