/* money.c - integer money: overflow-checked arithmetic and the half-even
 * platform fee (SPEC §4). No floating point anywhere on this path. */
#include "core/money.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/bug.h"
#include "util/error.h"

/* 128-bit products let fee() take any int64_t amount times 10000 basis
 * points without splitting the multiplication. __extension__ keeps
 * -Wpedantic quiet should it ever be turned on. */
__extension__ typedef __int128 wide_t;

#define BASIS_POINTS_WHOLE 10000

int esc_money_add(int64_t a, int64_t b, int64_t *out)
{
	int64_t r;
	ESC_ASSERT(out, "no place for the sum");
	if (__builtin_add_overflow(a, b, &r))
		return ESC_EINVAL;
	*out = r;
	return 0;
}

int esc_money_sub(int64_t a, int64_t b, int64_t *out)
{
	int64_t r;
	ESC_ASSERT(out, "no place for the difference");
	if (__builtin_sub_overflow(a, b, &r))
		return ESC_EINVAL;
	*out = r;
	return 0;
}

int esc_money_mul(int64_t a, int64_t b, int64_t *out)
{
	int64_t r;
	ESC_ASSERT(out, "no place for the product");
	if (__builtin_mul_overflow(a, b, &r))
		return ESC_EINVAL;
	*out = r;
	return 0;
}

int esc_money_fee(int64_t amount, int32_t basis_points, int64_t *out)
{
	ESC_ASSERT(out, "no place for the fee");
	if (amount < 0 || basis_points < 0 || basis_points > BASIS_POINTS_WHOLE)
		return ESC_EINVAL;
	wide_t product = (wide_t)amount * basis_points;
	wide_t quotient = product / BASIS_POINTS_WHOLE;
	wide_t remainder = product % BASIS_POINTS_WHOLE;
	/* Half-even (banker's) rounding: a fee of exactly half a minor unit
	 * goes to the even neighbour, so rounding does not favour the
	 * platform over many orders. */
	if (remainder * 2 > BASIS_POINTS_WHOLE ||
	    (remainder * 2 == BASIS_POINTS_WHOLE && (quotient & 1) != 0))
		quotient++;
	/* The fee never exceeds the amount (basis_points <= 10000), so it
	 * fits the amount's type. */
	ESC_ASSERT(quotient >= 0 && quotient <= amount, "a fee of %lld on %lld",
		   (long long)quotient, (long long)amount);
	*out = (int64_t)quotient;
	return 0;
}

bool esc_amount_valid(int64_t amount)
{
	return amount >= 0 && amount <= ESC_AMOUNT_MAX;
}

/* The active currencies of ISO 4217's list one, sorted: every code a
 * payment can be made in. Not the codes that are no currency (XXX), for
 * tests (XTS), of precious metals (XAU, XAG, XPD, XPT), of units of
 * account (XDR, XSU, XUA, XBA to XBD) or of funds (BOV, CHE, CHW, CLF,
 * COU, MXV, USN, UYI, UYW), nor withdrawn ones (HRK, CUC, SLL, ZWL).
 * ANG stays while XCG replaces it. */
static const char active_currencies[][ESC_CURRENCY_SIZE] = {
	"AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
	"BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
	"CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
	"EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
	"GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
	"JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
	"LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
	"MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
	"PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
	"SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
	"TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
	"VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW",
	"ZWG",
};

static int currency_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

bool esc_currency_valid(const char *currency)
{
	if (!currency || strlen(currency) != ESC_CURRENCY_SIZE - 1)
		return false;
	return bsearch(currency, active_currencies,
		       sizeof active_currencies / sizeof active_currencies[0],
		       sizeof active_currencies[0], currency_cmp) != NULL;
}

int esc_currency_digits(const char *currency)
{
	static const char zero[] = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF "
				   "XOF XPF",
			  three[] = "BHD IQD JOD KWD LYD OMR TND";
	if (strlen(currency) != 3)
		return 2;
	if (strstr(zero, currency))
		return 0;
	return strstr(three, currency) ? 3 : 2;
}
