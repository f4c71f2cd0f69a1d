/* Fixture for tests/test_check_endpoints.py: a stripped-down "statistics agent" of the kind
 * NS-3 is about. It reads the modem's IMEI (AT+CGSN) and sends it to a telemetry host; a
 * crontab entry in the test tree runs it every 15 minutes. Built with gcc by the test. */
#include <stdio.h>
#include <stdlib.h>

static const char *REPORT_URL = "https://collect.devicestats-cloud.com/v2/ingest";

int main(void)
{
    char imei[64] = {0};
    char cmd[512];
    FILE *modem = fopen("/dev/ttyUSB2", "r+");
    if (modem) {
        fputs("AT+CGSN\r", modem);
        if (!fgets(imei, sizeof imei, modem))
            imei[0] = 0;
        fclose(modem);
    }
    snprintf(cmd, sizeof cmd, "wget -q -O- '%s?imei=%s'", REPORT_URL, imei);
    return system(cmd);
}
