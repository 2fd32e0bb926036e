// gort/gort.hpp: everything public in gort, one include.
#pragma once

#include <gort/blocking.hpp>
#include <gort/chan.hpp>
#include <gort/cond.hpp>
#include <gort/context.hpp>
#include <gort/debug.hpp>
#include <gort/fiber.hpp>
#include <gort/go.hpp>
#include <gort/mutex.hpp>
#include <gort/once.hpp>
#include <gort/run.hpp>
#include <gort/rwmutex.hpp>
#include <gort/select.hpp>
#include <gort/stats.hpp>
#include <gort/time.hpp>
#include <gort/trace.hpp>
#include <gort/wait_group.hpp>
