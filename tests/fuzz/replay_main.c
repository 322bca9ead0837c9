/*
 * replay_main.c - runs a fuzz target over corpus files without libFuzzer, so
 * that `make check` replays every corpus with any compiler (gcc included).
 * Arguments: files or directories.  Exit 1 on a read error; a crash or an
 * abort() in the target fails the run by itself.
 *
 * Every input runs twice, each time from its own fresh copy (as Dropbear's
 * fuzz harness does): a target that keeps state between calls - a static
 * buffer, a cache, a counter that only goes up - must give the second run
 * the same footing as the first, and one that does not shows up here
 * (a crash, an assertion, or a sanitizer in `make fuzz`).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		perror(path);
		if (f != NULL)
			fclose(f);
		return -1;
	}
	buf = malloc((size_t)len + 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		perror(path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	for (int run = 0; run < 2; run++) {
		/* A fresh copy each time, sized exactly: reads past the end stay visible to ASan. */
		uint8_t *copy = malloc(len > 0 ? (size_t)len : 1);

		if (copy == NULL) {
			perror(path);
			free(buf);
			return -1;
		}
		memcpy(copy, buf, (size_t)len);
		LLVMFuzzerTestOneInput(copy, (size_t)len);
		free(copy);
	}
	free(buf);
	return 0;
}

static int
replay_path(const char *path, unsigned *count)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	char sub[4096];
	int rc = 0;

	if (stat(path, &st) < 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (replay_file(path) < 0)
			return -1;
		(*count)++;
		return 0;
	}
	if ((d = opendir(path)) == NULL) {
		perror(path);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (replay_path(sub, count) < 0)
			rc = -1;
	}
	closedir(d);
	return rc;
}

int
main(int argc, char **argv)
{
	unsigned count = 0;
	int rc = 0;

	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i], &count) < 0)
			rc = 1;
	printf("replayed %u inputs, each twice\n", count);
	return rc;
}
