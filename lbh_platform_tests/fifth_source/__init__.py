"""A made-up fifth source (a parking-permits API), written only against the source contract
(:mod:`lbh_platform.lib.spec`): proof that a new source is a folder and a spec."""
