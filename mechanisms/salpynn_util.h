/*
 *  salpynn_util.h  --  part of salpynn (GPL-2.0-or-later)
 *
 *  Helpers shared by salpynn's models: numbers in error messages and the weight check of
 *  the plastic synapses.
 */

#ifndef SALPYNN_UTIL_H
#define SALPYNN_UTIL_H

#include <cmath>
#include <iomanip>
#include <sstream>
#include <string>

#include "exceptions.h"

namespace salpynn
{

//! A number as a user would write it (up to 12 significant digits), for error messages.
inline std::string
format_number( double x )
{
  std::ostringstream out;
  out << std::setprecision( 12 ) << x;
  return out.str();
}

//! Throws BadProperty naming `model` unless w is finite and lies in [w_min, w_max].
inline void
check_weight_in_bounds( const std::string& model, double w, double w_min, double w_max )
{
  if ( not( std::isfinite( w ) and w >= w_min and w <= w_max ) )
  {
    throw nest::BadProperty( model + ": weight must be finite and lie in [w_min, w_max] = ["
                             + format_number( w_min ) + ", " + format_number( w_max ) + "]; got "
                             + format_number( w ) + "." );
  }
}

} // namespace salpynn

#endif // SALPYNN_UTIL_H
