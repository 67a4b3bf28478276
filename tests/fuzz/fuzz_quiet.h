/* fuzz_quiet.h — included by a fuzz target whose code logs (protocol
 * errors, refused input): libFuzzer's LLVMFuzzerInitialize silences the
 * log once, so that millions of inputs do not print millions of lines. */
#ifndef KSMD_FUZZ_QUIET_H
#define KSMD_FUZZ_QUIET_H

#include "common/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(-1);
	return 0;
}

#endif
