/*
 *  sampling_networks.h  --  part of salpynn (GPL-2.0-or-later)
 *
 *  Many small all-to-all networks of sampling neurons with static weights, simulated in
 *  one node, with the learning statistics of sampling_monitor.
 */

#ifndef SALPYNN_SAMPLING_NETWORKS_H
#define SALPYNN_SAMPLING_NETWORKS_H

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "dict_util.h"
#include "exceptions.h"
#include "kernel_manager.h"
#include "nest_time.h"
#include "nest_types.h"
#include "node.h"
#include "random_generators.h"

#include "salpynn_util.h"
#include "sampling_neuron.h"
#include "sampling_statistics.h"

/* BeginUserDocs: neuron, stochastic, sampling

Short description
+++++++++++++++++

``replicas`` networks of ``n`` sampling neurons with static all-to-all weights in one node

Description
+++++++++++

``sampling_networks`` simulates what ``replicas * n`` ``sampling_neuron``
nodes with rectangular PSPs on their basal port, connected all-to-all within
each network of ``n`` by ``static_synapse`` with one ``delay``, and a
``sampling_monitor`` on them would: the same steps in the same order, the same
random numbers from the same per-thread generator, the same sums in the same
order.  On one thread, with the neurons created in network order and nothing
else drawing random numbers, spikes and statistics are therefore identical to
those of the separate nodes (salpynn's tests check this), at a fraction of the
cost: no spike crosses NEST's event delivery, and with no connections NEST's
``min_delay`` no longer forces a communication cycle every step.

Its neurons do not exist as nodes: nothing can connect to them or record them,
and the weights cannot change during a run (no plasticity).  Use the separate
nodes for anything else.

Parameters
++++++++++

==============  ======  ==========================================================
 n              int     Neurons per network (1 ... 16; default 1)
 replicas       int     Networks (>= 1; default 1)
 b              list    Biases, ``replicas * n`` values (default 0)
 weights        list    ``replicas * n * n`` values, ``[r][k][j]`` the weight of
                        ``j -> k`` in network ``r`` (the diagonal is ignored and
                        reads as 0)
 weight_scale           Factor applied to every weight on arrival (default 1)
 tau_ref        ms      Dead time after a spike (default 10.0)
 tau_syn        ms      Length of the rectangular PSP (default 10.0)
 delay          ms      Synaptic delay (>= the resolution; default: resolution)
 escape         string  ``exp`` or ``logistic`` (default ``logistic``)
 tau            ms      Active window of the statistics (default 10.0)
 readout_start  ms      First state read-out (as ``sampling_monitor``)
 readout_stop   ms      Read-outs are before this time
 n_events       int     Spikes kept; setting 0 forgets them
 undelivered    int     Spikes of the last step simulated, to be delivered at the
                        start of the next run (read only)
==============  ======  ==========================================================

All times are multiples of the resolution (``readout_*``: of half of it).
Reading the status gives ``counts``, ``overlap_first`` and ``state_counts`` of
the spikes kept, exactly as ``sampling_monitor`` defines them.  Changing ``n``
or ``replicas`` resets the networks.

See also
++++++++

sampling_neuron, sampling_monitor

EndUserDocs */

namespace salpynn
{

void register_sampling_networks( const std::string& name );

class sampling_networks : public nest::Node
{
public:
  sampling_networks();
  sampling_networks( const sampling_networks& ) = default;

  void get_status( Dictionary& ) const override;
  void set_status( const Dictionary& ) override;

private:
  //! One neuron: what sampling_neuron keeps for a rectangular basal input.
  struct Neuron_
  {
    long next_event = std::numeric_limits< long >::min(); //!< first step of the full update
    long r = 0;                                           //!< dead-time steps left
    double steps_to_spike = 0.0;
    double u_drawn = 0.0;
    bool wait_valid = false;
    SamplingInput basal; //!< the rectangular PSPs (no apical port)
  };

  void init_buffers_() override;
  void pre_run_hook() override;
  void update( nest::Time const&, const long, const long ) override;

  void reset_networks_();
  void deliver_outbox_();
  static long grid_steps_( double ms, const char* name, bool zero_ok = false );

  // Parameters.
  long n_;
  long replicas_;
  std::vector< double > b_;
  std::vector< double > weights_;
  double weight_scale_;
  double tau_ref_;
  double tau_syn_;
  double delay_; //!< ms; NaN: one step
  SamplingEscape escape_;
  StatisticsReadout readout_; //!< tau, the read-out span and the statistics

  // State and variables.
  std::vector< Neuron_ > neurons_;
  std::vector< NetworkSpikes > spikes_;
  //! Spikes of the last step, (step, neuron index): delivered before the next step, as NEST
  //! delivers a slice's spikes at the start of the next slice, even in the next run (so with
  //! the weights of then).
  std::vector< std::pair< long, long > > outbox_;
  long generation_;
  nest::RngPtr rng_;
  long n_ref_;
  long n_syn_;
  long n_delay_;
  double h_over_tau_;
  double log_tau_ref_;
};

inline sampling_networks::sampling_networks()
  : nest::Node()
  , n_( 1 )
  , replicas_( 1 )
  , b_( 1, 0.0 )
  , weights_( 1, 0.0 )
  , weight_scale_( 1.0 )
  , tau_ref_( 10.0 )
  , tau_syn_( 10.0 )
  , delay_( std::numeric_limits< double >::quiet_NaN() )
  , escape_( SamplingEscape::LOGISTIC )
  , readout_()
  , neurons_( 1 )
  , spikes_( 1 )
  , generation_( 0 )
  , rng_( nullptr )
  , n_ref_( 0 )
  , n_syn_( 0 )
  , n_delay_( 1 )
  , h_over_tau_( 0.0 )
  , log_tau_ref_( 0.0 )
{
}

inline long
sampling_networks::grid_steps_( double ms, const char* name, bool zero_ok )
{
  const double h = nest::Time::get_resolution().get_ms();
  const double steps = ms / h;
  const long whole = std::lround( steps );
  if ( not std::isfinite( ms ) or std::abs( steps - static_cast< double >( whole ) ) > 1e-6
       or whole < ( zero_ok ? 0 : 1 ) )
  {
    throw nest::BadProperty( std::string( "sampling_networks: " ) + name
                             + " must be a positive multiple of the resolution (" + format_number( h )
                             + " ms); got " + format_number( ms ) + " ms." );
  }
  return whole;
}

inline void
sampling_networks::reset_networks_()
{
  neurons_.assign( static_cast< size_t >( n_ * replicas_ ), Neuron_() );
  spikes_.assign( static_cast< size_t >( replicas_ ), {} );
  outbox_.clear();
  ++generation_;
}

inline void
sampling_networks::deliver_outbox_()
{
  for ( const auto& [ t_spike, index ] : outbox_ )
  {
    const long replica = index / n_;
    const long j = index % n_;
    const long arrival = t_spike + n_delay_;
    const double* column = weights_.data() + replica * n_ * n_ + j;
    Neuron_* targets = neurons_.data() + replica * n_;
    for ( long k = 0; k < n_; ++k )
    {
      if ( k != j )
      {
        // sampling_neuron::handle: weight_scale * weight * multiplicity.
        targets[ k ].basal.add_arrival( arrival, weight_scale_ * column[ k * n_ ] * 1.0 );
        targets[ k ].next_event = std::min( targets[ k ].next_event, arrival );
      }
    }
  }
  outbox_.clear();
}

inline void
sampling_networks::init_buffers_()
{
  for ( auto& neuron : neurons_ )
  {
    neuron.basal.clear();
    neuron.next_event = std::numeric_limits< long >::min();
  }
}

inline void
sampling_networks::pre_run_hook()
{
  n_ref_ = grid_steps_( tau_ref_, "tau_ref" );
  n_syn_ = grid_steps_( tau_syn_, "tau_syn" );
  n_delay_ = std::isnan( delay_ ) ? 1 : grid_steps_( delay_, "delay" );
  h_over_tau_ = 1.0 / static_cast< double >( n_ref_ );
  log_tau_ref_ = std::log( static_cast< double >( n_ref_ ) );
  rng_ = nest::get_vp_specific_rng( get_thread() );
  for ( auto& neuron : neurons_ )
  {
    neuron.wait_valid = false; // as sampling_neuron at every run
    neuron.next_event = std::numeric_limits< long >::min();
  }
}

inline void
sampling_networks::update( nest::Time const& origin, const long from, const long to )
{
  const long origin_steps = origin.get_steps();
  const long count = n_ * replicas_;
  for ( long lag = from; lag < to; ++lag )
  {
    const long t_step = origin_steps + lag + 1;
    deliver_outbox_();
    for ( long index = 0; index < count; ++index )
    {
      Neuron_& neuron = neurons_[ index ];
      if ( t_step < neuron.next_event )
      {
        quiet_step( neuron.r, neuron.steps_to_spike );
        continue;
      }
      const double arrived = neuron.basal.take_arrival( t_step );
      if ( neuron.basal.changes_at( t_step, arrived ) )
      {
        neuron.basal.advance( t_step, arrived, n_syn_ );
      }

      bool fires = false;
      if ( neuron.r > 1 )
      {
        --neuron.r;
      }
      else
      {
        neuron.r = 0;
        // sampling_neuron's u: b + basal + lambda_apical * apical, with no apical input.
        const double u = b_[ index ] + neuron.basal.sum_ + 0.0;
        if ( not neuron.wait_valid or u != neuron.u_drawn )
        {
          neuron.steps_to_spike
            = draw_steps_to_spike( *rng_, escape_log_no_spike( escape_, u, h_over_tau_, log_tau_ref_ ) );
          neuron.u_drawn = u;
          neuron.wait_valid = true;
        }
        neuron.steps_to_spike -= 1.0;
        fires = neuron.steps_to_spike < 0.5;
      }

      if ( fires )
      {
        neuron.wait_valid = false;
        neuron.r = n_ref_;
        spikes_[ index / n_ ].emplace_back( t_step, index % n_ );
        outbox_.emplace_back( t_step, index );
      }
      neuron.next_event
        = first_full_update( t_step, neuron.basal.next_change(), neuron.r, neuron.steps_to_spike );
    }
  }
}

inline void
sampling_networks::get_status( Dictionary& d ) const
{
  d[ "n" ] = n_;
  d[ "replicas" ] = replicas_;
  d[ "b" ] = b_;
  std::vector< double > weights = weights_;
  for ( long r = 0; r < replicas_; ++r )
  {
    for ( long k = 0; k < n_; ++k )
    {
      weights[ ( r * n_ + k ) * n_ + k ] = 0.0;
    }
  }
  d[ "weights" ] = weights;
  d[ "weight_scale" ] = weight_scale_;
  d[ "tau_ref" ] = tau_ref_;
  d[ "tau_syn" ] = tau_syn_;
  d[ "delay" ] = std::isnan( delay_ ) ? nest::Time::get_resolution().get_ms() : delay_;
  d[ "escape" ] = std::string( escape_ == SamplingEscape::EXPONENTIAL ? "exp" : "logistic" );
  d[ "undelivered" ] = static_cast< long >( outbox_.size() );
  size_t n_events = 0;
  for ( const auto& mine : spikes_ )
  {
    n_events += mine.size();
  }
  readout_.write(
    d, n_, n_events, generation_, [ this ]() -> const std::vector< NetworkSpikes >& { return spikes_; } );
}

inline void
sampling_networks::set_status( const Dictionary& d )
{
  long n = n_;
  long replicas = replicas_;
  d.update_value( "n", n );
  d.update_value( "replicas", replicas );
  if ( n < 1 or n > 16 )
  {
    throw nest::BadProperty(
      "sampling_networks: n must be 1 ... 16 (2**n states are counted); got " + std::to_string( n ) + "." );
  }
  if ( replicas < 1 )
  {
    throw nest::BadProperty(
      "sampling_networks: replicas must be >= 1; got " + std::to_string( replicas ) + "." );
  }
  const bool layout_changed = n != n_ or replicas != replicas_;
  const size_t size = static_cast< size_t >( n * replicas );
  std::vector< double > b = layout_changed ? std::vector< double >( size, 0.0 ) : b_;
  std::vector< double > weights = layout_changed ? std::vector< double >( size * n, 0.0 ) : weights_;
  const bool has_b = d.update_value( "b", b );
  const bool has_weights = d.update_value( "weights", weights );
  if ( b.size() != size )
  {
    throw nest::BadProperty( "sampling_networks: b must have replicas * n = " + std::to_string( size )
                             + " values; got " + std::to_string( b.size() ) + "." );
  }
  if ( weights.size() != size * n )
  {
    throw nest::BadProperty(
      "sampling_networks: weights must have replicas * n * n = " + std::to_string( size * n )
      + " values; got " + std::to_string( weights.size() ) + "." );
  }
  for ( const auto& [ name, values ] : { std::pair< const char*, const std::vector< double >* >( "b", &b ),
          std::pair< const char*, const std::vector< double >* >( "weights", &weights ) } )
  {
    for ( const double v : *values )
    {
      if ( not std::isfinite( v ) )
      {
        throw nest::BadProperty(
          std::string( "sampling_networks: " ) + name + " must be finite; got " + format_number( v ) + "." );
      }
    }
  }
  double weight_scale = weight_scale_;
  double tau_ref = tau_ref_;
  double tau_syn = tau_syn_;
  double delay = delay_;
  std::string escape = escape_ == SamplingEscape::EXPONENTIAL ? "exp" : "logistic";
  d.update_value( "weight_scale", weight_scale );
  d.update_value( "tau_ref", tau_ref );
  d.update_value( "tau_syn", tau_syn );
  d.update_value( "delay", delay );
  d.update_value( "escape", escape );
  if ( not std::isfinite( weight_scale ) )
  {
    throw nest::BadProperty(
      "sampling_networks: weight_scale must be finite; got " + format_number( weight_scale ) + "." );
  }
  grid_steps_( tau_ref, "tau_ref" );
  grid_steps_( tau_syn, "tau_syn" );
  if ( not std::isnan( delay ) )
  {
    grid_steps_( delay, "delay" );
  }
  if ( escape != "exp" and escape != "logistic" )
  {
    throw nest::BadProperty( "sampling_networks: escape must be 'exp' or 'logistic'; got '" + escape + "'." );
  }
  const StatisticsReadout::Settings settings = readout_.read( d, "sampling_networks" );

  n_ = n;
  replicas_ = replicas;
  b_ = b;
  weights_ = weights;
  weight_scale_ = weight_scale;
  tau_ref_ = tau_ref;
  tau_syn_ = tau_syn;
  delay_ = delay;
  readout_.apply( settings );
  escape_ = escape == "exp" ? SamplingEscape::EXPONENTIAL : SamplingEscape::LOGISTIC;
  if ( layout_changed )
  {
    reset_networks_();
  }
  else if ( settings.forget )
  {
    spikes_.assign( static_cast< size_t >( replicas_ ), {} );
    ++generation_;
  }
  if ( has_b or has_weights )
  {
    // As sampling_neuron::set_status: the next step runs the full update.
    for ( auto& neuron : neurons_ )
    {
      neuron.next_event = std::numeric_limits< long >::min();
    }
  }
}

} // namespace salpynn

#endif // SALPYNN_SAMPLING_NETWORKS_H
