<?php
$name = $_SERVER['QUERY_STRING'] !== '' ? $_SERVER['QUERY_STRING'] : 'release';
$release = getenv('MODES_DIR') . '/' . $name;
$deadline = time() + 60;
while (!file_exists($release)) {
    if (time() > $deadline) {
        http_response_code(504);
        echo "never released\n";
        exit;
    }
    usleep(20000);
    clearstatcache();
}
echo "released\n";
