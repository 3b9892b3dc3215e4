#!/usr/bin/env bash
# A real WordPress for the peer tests: Debian's package served by PHP's built-in server on
# 127.0.0.1:${WP_PORT:-8088}, with the local MariaDB. It (re)creates the database, installs the
# site, makes an application password for the REST API and prints one line:
#   WORDPRESS ready at URL user=admin app_password=PASSWORD
# then serves until it is killed. Needs root (apt on the first run). Never run it against a
# WordPress that is in use: it drops the database.
set -euo pipefail
port=${WP_PORT:-8088}
db=${WP_DB:-wp_comms}
admin_password=${WP_ADMIN_PASSWORD:-comms-peer-$(date +%s)-$RANDOM}

if ! dpkg -s wordpress php-cli php-mysql >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordpress php-cli php-mysql >/dev/null
fi
if ! mysql -uroot -e 'select 1' >/dev/null 2>&1; then
  command -v mariadbd >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 30); do mysql -uroot -e 'select 1' >/dev/null 2>&1 && break; sleep 1; done
fi
mysql -uroot -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db;
  CREATE USER IF NOT EXISTS 'wp'@'localhost' IDENTIFIED BY 'wp';
  GRANT ALL ON $db.* TO 'wp'@'localhost'; FLUSH PRIVILEGES;"

# Debian's WordPress reads /etc/wordpress/config-HOST.php for the host it is asked as.
cat > /etc/wordpress/config-127.0.0.1.php <<PHP
<?php
define('DB_NAME', '$db');
define('DB_USER', 'wp');
define('DB_PASSWORD', 'wp');
define('DB_HOST', 'localhost');
define('WP_ENVIRONMENT_TYPE', 'local');
define('WP_CONTENT_DIR', '/var/lib/wordpress/wp-content');
define('FS_METHOD', 'direct');
PHP

log=${TMPDIR:-/tmp}/comms-wp-php.log
php -S "127.0.0.1:$port" -t /usr/share/wordpress >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT TERM INT
for _ in $(seq 30); do
  curl -s -o /dev/null "http://127.0.0.1:$port/wp-admin/install.php" && break
  sleep 1
done
curl -s -X POST "http://127.0.0.1:$port/wp-admin/install.php?step=2" \
  --data-urlencode 'weblog_title=Tryg Test' --data-urlencode 'user_name=admin' \
  --data-urlencode "admin_password=$admin_password" --data-urlencode "admin_password2=$admin_password" \
  --data-urlencode 'pw_weak=1' --data-urlencode 'admin_email=admin@example.com' \
  --data-urlencode 'blog_public=0' >/dev/null
app_password=$(php -r '
  $_SERVER["HTTP_HOST"] = "127.0.0.1";
  define("WP_USE_THEMES", false);
  require "/usr/share/wordpress/wp-load.php";
  [$password, $item] = WP_Application_Passwords::create_new_application_password(1, ["name" => "comms"]);
  echo $password;' 2>/dev/null)
echo "WORDPRESS ready at http://127.0.0.1:$port user=admin app_password=$app_password"
wait $server
