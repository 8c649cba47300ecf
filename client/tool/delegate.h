/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegate.h - iommu-broker-client delegate: the launcher of a stock VMM.
 *
 * Owns: the command line "delegate dev=PCI[,PCI...] -- COMMAND [ARGS...]",
 * asking the broker for the devices (ib_device_delegate()), placing the fds
 * at fixed numbers, substituting them into ARGS and exec'ing COMMAND.
 * Must never: return after a successful exec, or exec without the fds.
 */
#pragma once

#include "client/iommu-broker.h"

/* The first fd the delegated fds go to: the iommufd; the devices follow in order. */
#define TOOL_DELEGATE_FIRST_FD 3

/* True if argv (from the first request on) is a delegate command line. */
int tool_delegate_wanted(int argc, char *argv[]);
/*
 * Checks argv (argv[0] is "delegate") before anything is asked; 0, or 2
 * after printing a usage error.
 */
int tool_delegate_check(int argc, char *argv[]);
/*
 * Sets no_new_privs, asks for the devices over *client, frees *client and
 * execs.  Returns only on failure: the exit status (1: the broker refused,
 * its errno and sentence printed; 127: the exec failed).
 */
int tool_delegate_exec(ib_client **client, int argc, char *argv[]);
