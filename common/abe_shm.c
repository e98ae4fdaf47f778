/*
 * abe_shm.c — creation of the shared region that every process inherits (see abe_shm.h).
 */
#include "abe_shm.h"

#include <string.h>
#include <sys/mman.h>
#include <time.h>

abe_shm_t *abe_shm_create(void)
{
    void *p = mmap(NULL, sizeof(abe_shm_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    memset(p, 0, sizeof(abe_shm_t));
    ((abe_shm_t *)p)->started_unix = (int64_t)time(NULL);
    return p;
}

int abe_shm_batch_bucket(int n)
{
    static const int bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500};
    for (int i = 0; i < 9; i++)
        if (n <= bounds[i]) return i;
    return 9;
}
