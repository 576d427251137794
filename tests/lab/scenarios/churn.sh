#!/bin/sh
# churn: one exporter process watches the table change under it. The second
# checkpoint must show exactly the new table: added services and real servers
# present, removed ones gone, changed weight and scheduler shown with their new
# values and no series left behind with the old ones.
. /lab/lib.sh

lab_ipvs_reset

$IPVSADM -A -t 10.20.0.1:80 -s rr
$IPVSADM -a -t 10.20.0.1:80 -r 10.21.0.1:80 -m -w 1
$IPVSADM -a -t 10.20.0.1:80 -r 10.21.0.2:80 -m -w 1
$IPVSADM -a -t 10.20.0.1:80 -r 10.21.0.3:80 -m -w 1
$IPVSADM -A -u 10.20.0.1:53 -s rr
$IPVSADM -a -u 10.20.0.1:53 -r 10.21.0.1:53 -m -w 1
$IPVSADM -A -t 10.20.0.2:80 -s wrr
$IPVSADM -a -t 10.20.0.2:80 -r 10.21.0.4:80 -g -w 2
$IPVSADM -a -t 10.20.0.2:80 -r 10.21.0.5:80 -g -w 3
$IPVSADM -A -f 7 -s rr
$IPVSADM -a -f 7 -r 10.21.0.6 -g -w 1

lab_exporter_start
lab_checkpoint before

# add a service with a real server
$IPVSADM -A -t 10.20.0.3:443 -s wlc
$IPVSADM -a -t 10.20.0.3:443 -r 10.21.0.7:443 -m -w 4
# add a real server to an existing service
$IPVSADM -a -t 10.20.0.1:80 -r 10.21.0.8:80 -m -w 1
# change a weight
$IPVSADM -e -t 10.20.0.1:80 -r 10.21.0.2:80 -m -w 7
# remove a real server
$IPVSADM -d -t 10.20.0.1:80 -r 10.21.0.3:80
# change a scheduler and make a service persistent
$IPVSADM -E -t 10.20.0.2:80 -s rr -p 120
# change a forwarding method
$IPVSADM -e -t 10.20.0.2:80 -r 10.21.0.4:80 -i -w 2
# remove a whole service, real servers included
$IPVSADM -D -u 10.20.0.1:53
# and one whose real server is removed first
$IPVSADM -d -f 7 -r 10.21.0.6
$IPVSADM -D -f 7

lab_checkpoint after
