import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addressInRanges, parseCidr } from "../../../dev/sandbox/cidr.js";

describe("CIDR restrictions", () => {
  it("parses IPv4 and IPv6 blocks and refuses addresses without a prefix or with a bad one", () => {
    assert.deepEqual(parseCidr("102.177.115.120/29"), { address: "102.177.115.120", prefix: 29, family: "ipv4" });
    assert.deepEqual(parseCidr("::1/128"), { address: "::1", prefix: 128, family: "ipv6" });
    assert.equal(parseCidr("185.184.111.39"), undefined);
    assert.equal(parseCidr("10.0.0.0/33"), undefined);
    assert.equal(parseCidr("300.1.1.1/8"), undefined);
    assert.equal(parseCidr("localhost/8"), undefined);
  });

  it("matches the documented ranges inclusively and nothing outside them", () => {
    assert.equal(addressInRanges("102.177.115.120", ["102.177.115.120/29"]), true);
    assert.equal(addressInRanges("102.177.115.126", ["102.177.115.120/29"]), true);
    assert.equal(addressInRanges("102.177.115.128", ["102.177.115.120/29"]), false);
    assert.equal(addressInRanges("8.8.8.8", ["0.0.0.0/0"]), true);
    assert.equal(addressInRanges("185.184.111.39", ["185.184.111.39/32"]), true);
    assert.equal(addressInRanges("185.184.111.40", ["185.184.111.39/32"]), false);
  });

  it("matches a dual-stack IPv4-mapped loopback as 127.0.0.1 and IPv6 loopback only against IPv6 ranges", () => {
    assert.equal(addressInRanges("::ffff:127.0.0.1", ["127.0.0.0/8"]), true);
    assert.equal(addressInRanges("::1", ["127.0.0.0/8"]), false);
    assert.equal(addressInRanges("::1", ["::1/128"]), true);
    assert.equal(addressInRanges(undefined, ["0.0.0.0/0"]), false);
  });
});
