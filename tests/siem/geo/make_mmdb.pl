#!/usr/bin/perl
# Builds a tiny GeoLite2-City-shaped MaxMind database for the SIEM tests
# (Debian: libmaxmind-db-writer-perl). Usage: make_mmdb.pl OUT.mmdb
# Networks (documentation ranges, RFC 5737 / RFC 3849):
#   198.51.100.0/24  DE Berlin    52.52, 13.40
#   203.0.113.0/24   AU Sydney   -33.87, 151.21
#   192.0.2.0/25     US New York  40.71, -74.01
#   192.0.2.128/25   US Newark    40.74, -74.17  (next door to New York)
#   2001:db8::/32    JP Tokyo     35.68, 139.69
# and two single loopback addresses for the end-to-end test
# (tests/integration/t_siem_e2e.sh), which logs in to a real bulwark from
# distinct source addresses on lo; 127.0.0.1 itself stays unknown:
#   127.0.0.2/32     FR Paris         48.86,    2.35
#   127.0.0.3/32     US San Francisco 37.77, -122.42
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my $out = shift or die "usage: $0 OUT.mmdb\n";
my %types = (
    country   => 'map', iso_code => 'utf8_string',
    city      => 'map', names    => 'map', en => 'utf8_string',
    location  => 'map', latitude => 'double', longitude => 'double',
);
my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version            => 6,
    record_size           => 28,
    database_type         => 'GeoLite2-City',
    languages             => ['en'],
    description           => { en => 'bulwark SIEM test database' },
    map_key_type_callback => sub { $types{ $_[0] } },
    alias_ipv6_to_ipv4    => 1,
    # the test networks are documentation ranges, which the writer
    # would otherwise drop as reserved
    remove_reserved_networks => 0,
);
sub place {
    my ($net, $cc, $city, $lat, $lon) = @_;
    $tree->insert_network($net, {
        country  => { iso_code => $cc },
        city     => { names => { en => $city } },
        location => { latitude => $lat, longitude => $lon },
    });
}
place('198.51.100.0/24', 'DE', 'Berlin', 52.52, 13.40);
place('203.0.113.0/24', 'AU', 'Sydney', -33.87, 151.21);
place('192.0.2.0/25', 'US', 'New York', 40.71, -74.01);
place('192.0.2.128/25', 'US', 'Newark', 40.74, -74.17);
place('2001:db8::/32', 'JP', 'Tokyo', 35.68, 139.69);
place('127.0.0.2/32', 'FR', 'Paris', 48.86, 2.35);
place('127.0.0.3/32', 'US', 'San Francisco', 37.77, -122.42);
open my $fh, '>:raw', $out or die "$out: $!\n";
$tree->write_tree($fh);
close $fh or die "$out: $!\n";
