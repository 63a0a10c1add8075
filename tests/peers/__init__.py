# SPDX-License-Identifier: Apache-2.0
"""Helpers that start real SIP peers (SIPp, the example programs, …) on 127.0.0.1 for the tests."""
