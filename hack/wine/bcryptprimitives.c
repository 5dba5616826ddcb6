/*
 * bcryptprimitives.dll for Wine 8.0, which lacks ProcessPrng: Go 1.24 and
 * later fill their random numbers with it on Windows, and a Go program
 * without it does not start. hack/wine.sh builds this file with mingw-w64
 * (x86_64-w64-mingw32-gcc -shared ... -lbcrypt) into the Wine prefix's
 * system32. Only for running hull's Windows test binaries under Wine in CI;
 * Windows 10 and later have the real one.
 */
#include <windows.h>
#include <bcrypt.h>

/* ProcessPrng fills data with len random bytes from the system's
 * preferred generator; it never fails on Windows, and here fails only if
 * Wine's BCryptGenRandom does. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
